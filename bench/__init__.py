"""The loader benchmark: generated CSVs loaded through the real handler into moto's server mode."""
