"""EC2 adapter tests run against a real moto server (fixtures in tests/fixtures_ec2.py)."""
