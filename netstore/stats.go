package netstore

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
