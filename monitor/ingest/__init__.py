"""monitor.ingest"""
