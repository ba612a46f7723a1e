from .files import site  # noqa: F401  (fixture)
