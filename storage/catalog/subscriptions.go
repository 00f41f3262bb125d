package catalog

import (
	"fmt"
	"sort"
	"strconv"
)

// Subscription is a Kafka topic the server reads into a database
// (ingest/kafka runs it). Its offsets live in storage, under Key.
type Subscription struct {
	Name    string   `json:"name"`
	Brokers []string `json:"brokers"`
	Topic   string   `json:"topic"`
	// Format is "line_protocol" or "json".
	Format string `json:"format"`
	// Table receives JSON messages (required for json; line protocol names
	// its own tables).
	Table string `json:"table,omitempty"`
	// TimeField, TimeUnit (s, ms, us or ns, for numeric times) and Tags map
	// a JSON message's keys; every other scalar key is a field.
	TimeField string   `json:"time_field,omitempty"`
	TimeUnit  string   `json:"time_unit,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// Group is the Kafka consumer group id.
	Group string `json:"group"`
	// Start is where a partition with no stored offset begins: "earliest"
	// or "latest".
	Start string `json:"start"`
	// Created (Unix ns) tells a subscription from an earlier one of the
	// same name, so a new one never resumes a dropped one's offsets.
	Created int64 `json:"created_ns"`
}

// Key names the subscription's offsets in storage: database, name and
// creation time.
func (s Subscription) Key(db string) string {
	return db + "/" + s.Name + "/" + strconv.FormatInt(s.Created, 10)
}

// PutSubscription adds a subscription to db; a subscription of that name
// is ErrExists. Saved before it returns.
func (c *Catalog) PutSubscription(db string, s Subscription) error {
	if err := ValidateName("subscription", s.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok {
		return fmt.Errorf("%w: database %q", ErrNotFound, db)
	}
	if d.Subscriptions[s.Name] != nil {
		return fmt.Errorf("%w: subscription %q in database %q", ErrExists, s.Name, db)
	}
	if d.Subscriptions == nil {
		d.Subscriptions = map[string]*Subscription{}
	}
	cp := s
	cp.Brokers = append([]string(nil), s.Brokers...)
	cp.Tags = append([]string(nil), s.Tags...)
	d.Subscriptions[s.Name] = &cp
	return c.saveLocked()
}

// DropSubscription removes a subscription; a missing one is ErrNotFound.
func (c *Catalog) DropSubscription(db, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.dbs[db]
	if !ok || d.Subscriptions[name] == nil {
		return fmt.Errorf("%w: subscription %q in database %q", ErrNotFound, name, db)
	}
	delete(d.Subscriptions, name)
	return c.saveLocked()
}

// DBSubscription is a subscription with its database.
type DBSubscription struct {
	DB string
	Subscription
}

// Subscriptions returns copies of every database's subscriptions, sorted by
// database and name.
func (c *Catalog) Subscriptions() []DBSubscription {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []DBSubscription
	for name, d := range c.dbs {
		for _, s := range d.Subscriptions {
			out = append(out, DBSubscription{DB: name, Subscription: *s})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DB != out[j].DB {
			return out[i].DB < out[j].DB
		}
		return out[i].Name < out[j].Name
	})
	return out
}
