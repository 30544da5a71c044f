"""Compatibility runs driven by code nobody on this project wrote: stock clients and their own test suites."""
