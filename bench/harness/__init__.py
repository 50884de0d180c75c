"""What runs the benchmark: processes and the stack of servers, the load generator, the scratch database,
the reports data set (``generate``), the benchmark's organisation, and the PASS/FAIL report."""
