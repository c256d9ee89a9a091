"""End-to-end tests on LocalStack; a package so its conftest never shadows tests/conftest.py."""
