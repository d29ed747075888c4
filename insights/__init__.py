"""Demand capture, the demand store, reports and the reports web app."""
