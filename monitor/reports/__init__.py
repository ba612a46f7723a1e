"""monitor.reports"""
