"""monitor.simulate"""
