"""monitor.science"""
