"""monitor.calibration"""
