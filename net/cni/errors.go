package cni

import "errors"

// Sentinel errors of the plugin and of Network, wrapped with the names and
// addresses involved. In-process calls keep them (errors.Is works); through
// an exec'd plugin they arrive as CNI error messages.
var (
	// ErrInvalidConfig reports a network configuration or runtime argument that cannot be used.
	ErrInvalidConfig = errors.New("invalid network configuration")
	// ErrSubnetOverlap reports a subnet overlapping an address already on another host interface.
	ErrSubnetOverlap = errors.New("subnet overlaps an existing network")
	// ErrPortInUse reports a host port that is already published or bound on the host.
	ErrPortInUse = errors.New("host port already in use")
	// ErrUnknownNetwork reports a network whose bridge does not exist.
	ErrUnknownNetwork = errors.New("unknown network")
	// ErrNetworkInUse reports removing a network that still has attachments.
	ErrNetworkInUse = errors.New("network has attachments")
	// ErrCheckFailed reports an attachment that CHECK found missing or different.
	ErrCheckFailed = errors.New("attachment check failed")
	// ErrPluginNotFound reports a plugin of a network's conflist that is in none of the CNI plugin dirs.
	ErrPluginNotFound = errors.New("CNI plugin not found")
	// ErrUnsupported reports use on a platform without Linux networking.
	ErrUnsupported = errors.New("kedge networking needs Linux")
)
