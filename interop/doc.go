// Package interop proves, with 9P clients that are not our code, that a
// store's 9P tree works. It holds tests only.
package interop
