package deliverytest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// listenShared binds one TCP port on every ip: real MX hosts all listen on
// port 25, so the peers of a test share one port on distinct loopback
// addresses. A port free on the first address may be taken on another,
// so on a collision everything is released and another port tried.
func listenShared(ips []string) ([]net.Listener, error) {
	var lastErr error
	for range 50 {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", ips[0], err)
		}
		port := strconv.Itoa(first.Addr().(*net.TCPAddr).Port)
		lns := []net.Listener{first}
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				lastErr = err
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(ips) {
			return lns, nil
		}
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	return nil, errors.Join(errors.New("no port free on every peer address"), lastErr)
}

// peerIP is the loopback address of the i-th peer: 127.0.0.2, 127.0.0.3,
// ... (127.0.0.1 is left to everything else on the machine).
func peerIP(i int) string {
	return net.IPv4(127, 0, byte(i/250), byte(2+i%250)).String()
}
