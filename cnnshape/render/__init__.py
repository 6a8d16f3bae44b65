"""Renderers: each formats a Report and computes nothing."""
