"""Live painting: the Live dock, its panel, the scheduler that decides when a live job runs, and live mode itself."""
