"""The repository's commands (make check-config, local-deploy, local-load) and what they share with the tests."""
