-- callback_queue is a queue: every owed callback is inserted, claimed (updated) and
-- deleted within seconds, so at 1,000 notifications/s it makes ~3,000 dead tuples a
-- second while holding only a few thousand live rows. With the default scale factor
-- (20% of the table) autovacuum comes late and the claim query slows down scanning dead
-- index entries. Vacuum it after a fixed number of dead tuples instead, without the
-- cost-based throttling that would stretch one pass over minutes.
ALTER TABLE callback_queue SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
