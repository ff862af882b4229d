"""Docker-free LocalStack harness for this project's tests (see tests/harness/README.md)."""
