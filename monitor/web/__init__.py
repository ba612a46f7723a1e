"""The read-only web dashboard of the catalogue (``monitor serve``): :mod:`monitor.web.app`."""
