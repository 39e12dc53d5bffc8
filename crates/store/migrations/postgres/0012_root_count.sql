-- certmail schema v12: a partial index of the root store, so the dashboard counts the roots
-- without reading a million end-user certificates (the certificate count is the table's
-- count minus this one). Queries that bind the store as a parameter never match it, so
-- the planner's choices for the lists stay as they were.
CREATE INDEX certificates_roots ON certificates (id) WHERE store = 'roots'
