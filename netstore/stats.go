package netstore

// OpenOplogs is how many oplogs the store holds open (in memory), over
// every user.
func (s *Service) OpenOplogs() int {
	s.mu.Lock()
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	s.mu.Unlock()
	n := 0
	for _, u := range users {
		u.mu.Lock()
		n += len(u.logs)
		u.mu.Unlock()
	}
	return n
}
