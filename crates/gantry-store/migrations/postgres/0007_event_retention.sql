-- What is done with is forgotten after `alerts.retention`: finished deliveries by age, events
-- without deliveries left by age, and expiry notices for expiries no longer looked at.
CREATE INDEX deliveries_done ON deliveries(created_at) WHERE state <> 'pending';
CREATE INDEX deliveries_event ON deliveries(event_id);
CREATE INDEX events_at ON events(at);
CREATE INDEX expiry_notices_expiry ON expiry_notices(expires_at);
