-- A claim reads each rule's earliest due deliveries (a few per rule), not the whole backlog.
CREATE INDEX deliveries_rule_due ON deliveries(alert_id, next_attempt_at, id) WHERE state = 'pending';
-- Deliveries in flight: claimed, the claim not yet run out.
CREATE INDEX deliveries_claimed ON deliveries(claimed_until) WHERE state = 'pending' AND claimed_until IS NOT NULL;
