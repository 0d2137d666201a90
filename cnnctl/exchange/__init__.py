"""What leaves cnnctl and comes in: the notation's JSON Schema (more formats to come)."""
