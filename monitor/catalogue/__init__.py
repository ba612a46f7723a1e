"""monitor.catalogue"""
