"""The paper's three experiments (Table I, Table II, Fig. 3) as one reproducible run per preset."""
