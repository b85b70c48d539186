-- A known text sealed with the instance key of the first node that started on this database:
-- a node whose key cannot open it would seal and open secrets no other node can read, and
-- refuses to start instead.
CREATE TABLE key_check (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed TEXT NOT NULL
);
