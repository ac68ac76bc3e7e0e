// Package testclock is a settable clock for tests: its Now is what a
// component under test is given as its clock (a cache's TTLs, a budget's
// refill), and Advance moves it.
package testclock
