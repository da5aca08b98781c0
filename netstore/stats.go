package netstore

import "fmt"

// OpenOplogs is how many oplogs the store holds open (in memory), over
// every user.
func (s *Service) OpenOplogs() int {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return len(s.cache.m)
}

// OplogLoads is how many times the store loaded an oplog from its file
// since it opened.
func (s *Service) OplogLoads() int64 { return s.cache.loads.Load() }

// OplogEvictions is how many times the store dropped an oplog from memory
// to keep within its budget (Config.MemBudget).
func (s *Service) OplogEvictions() int64 { return s.cache.evicted.Load() }

// OplogBytes is the store's estimate of the memory its open oplogs take.
func (s *Service) OplogBytes() int64 {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.bytes
}

// PushWaits is how many pushes waited for a flush of the write-ahead log
// because the oplogs in memory were over the budget.
func (s *Service) PushWaits() int64 { return s.cache.waits.Load() }

// MemoryText says what the open oplogs take by the store's estimate, the
// budget now (Config.MemBudget less what a live heap near the soft limit
// took off it), the soft memory limit, and the evictions and loads so
// far, for a status file.
func (s *Service) MemoryText() string {
	c := s.cache
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	limit := "none"
	if c.limit > 0 {
		limit = fmt.Sprintf("%.1f MiB", mib(c.limit))
	}
	budget := "no budget"
	if c.budget > 0 {
		budget = fmt.Sprintf("%.1f MiB (-mem)", mib(c.target()))
	}
	return fmt.Sprintf("%.1f MiB of %s, limit %s, evicted %d, loaded %d", mib(s.OplogBytes()), budget, limit, c.evicted.Load(), c.loads.Load())
}
