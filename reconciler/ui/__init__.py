"""What people and tools see: plans (table, lines, JSON, markdown), a run's progress, the report
(gallery) and spend.
"""
