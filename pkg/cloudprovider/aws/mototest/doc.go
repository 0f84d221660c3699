// Package mototest starts moto_server (the AWS API emulator) for tests on a free loopback
// port and stops it when the test ends. A missing moto_server fails the test with the
// command that installs it; tests never skip for it.
package mototest
