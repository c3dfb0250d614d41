"""Streamlit support for the dashboard (app.py and pages/); not part of the engine."""
