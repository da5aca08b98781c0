package tools

import "fmt"

// count is n and a noun, singular for 1: "1 path", "3 paths".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
