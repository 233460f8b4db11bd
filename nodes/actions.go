package nodes

import (
	"errors"
	"slices"
	"strings"
)

// Action names a kind of logbook entry. Every action the code writes is one
// of the constants below, so a typo cannot create an action that "log
// --action" never finds, and hooks are named after the same values.
type Action string

// Logbook actions.
const (
	ActionMove    Action = "move"
	ActionMask    Action = "mask"
	ActionUnmask  Action = "unmask"
	ActionReboot  Action = "reboot"
	ActionPowerOn Action = "power-on"
	ActionHook    Action = "hook"
	// Boot once: asked for (move --once), cancelled (move --cancel-once),
	// and used up by the boot server when the node fetched its config.
	ActionMoveOnce     Action = "move-once"
	ActionCancelOnce   Action = "cancel-once"
	ActionBootOnceUsed Action = "boot-once-used"

	ActionNodeAdd        Action = "node-add"
	ActionNodeRemove     Action = "node-rm"
	ActionClusterAdd     Action = "cluster-add"
	ActionClusterProfile Action = "cluster-profile"
	ActionClusterRemove  Action = "cluster-rm"
	ActionProfileAdd     Action = "profile-add"
	ActionProfileSet     Action = "profile-set"
	ActionProfileRemove  Action = "profile-rm"
	ActionSubnetSet      Action = "subnet-set"
	ActionSubnetRemove   Action = "subnet-rm"
	ActionNFSRootAdd     Action = "nfsroot-add"
	ActionNFSRootRemove  Action = "nfsroot-rm"
	ActionNFSRootCheck   Action = "nfsroot-check"
	ActionImport         Action = "import"
	ActionSSHKeyAdd      Action = "ssh-key-add"
	ActionSSHKeyRemove   Action = "ssh-key-rm"
	ActionSSHCommand     Action = "ssh-command"
	ActionSSHRefused     Action = "ssh-refused"
	ActionUnknownClear   Action = "unknown-clear"
	ActionWebUserAdd     Action = "web-user-add"
	ActionWebUserRemove  Action = "web-user-rm"
	// An API token of a web user made or revoked (its id and expiry; the
	// token itself is never logged).
	ActionWebTokenAdd    Action = "web-token-add"
	ActionWebTokenRemove Action = "web-token-rm"
	// ActionInventoryCopy is the first entry of an inventory filled by
	// "migrate-db" (nodes.CopyInventory), after the copied logbook.
	ActionInventoryCopy Action = "inventory-copy"
	// ActionServersBehind records boot servers that still answered from
	// before a change when its wait for them ended (ops).
	ActionServersBehind Action = "servers-behind"
)

// Power through the BMC ("power on" is ActionPowerOn, by BMC or
// Wake-on-LAN); "power status" only reads and is not logged. ActionNodeBMC
// records a node's BMC address and user being set or removed (never its
// password).
const (
	ActionPowerOff   Action = "power-off"
	ActionPowerCycle Action = "power-cycle"
	ActionPowerReset Action = "power-reset"
	ActionNodeBMC    Action = "node-bmc"
)

// actions lists every Action, for checking a filter ("log --action").
var actions = []Action{
	ActionMove, ActionMask, ActionUnmask, ActionReboot, ActionPowerOn, ActionHook,
	ActionMoveOnce, ActionCancelOnce, ActionBootOnceUsed,
	ActionNodeAdd, ActionNodeRemove, ActionClusterAdd, ActionClusterProfile, ActionClusterRemove,
	ActionProfileAdd, ActionProfileSet, ActionProfileRemove, ActionSubnetSet, ActionSubnetRemove,
	ActionNFSRootAdd, ActionNFSRootRemove, ActionNFSRootCheck, ActionImport,
	ActionSSHKeyAdd, ActionSSHKeyRemove, ActionSSHCommand, ActionSSHRefused,
	ActionUnknownClear,
	ActionPowerOff, ActionPowerCycle, ActionPowerReset, ActionNodeBMC,
	ActionWebUserAdd, ActionWebUserRemove, ActionWebTokenAdd, ActionWebTokenRemove,
	ActionInventoryCopy, ActionServersBehind,
}

// KnownAction reports whether a is one of the logbook's actions.
func KnownAction(a Action) bool { return slices.Contains(actions, a) }

// ActionList names every action, for messages.
func ActionList() string {
	out := make([]string, len(actions))
	for i, a := range actions {
		out[i] = string(a)
	}
	return strings.Join(out, ", ")
}

// ErrInvalid is wrapped by errors in what the operator asked for (a
// malformed or unknown range, a bad value): the CLI exits 2 for them, 1 for
// an operation that was well formed but failed.
var ErrInvalid = errors.New("invalid input")

// ErrChanged is wrapped when the inventory changed between an operation's
// plan (what its pre-hooks were told) and its commit: nothing is changed, so
// a node the hooks never saw (never drained) cannot move.
var ErrChanged = errors.New("the inventory changed underneath")

// Invalid marks err as bad input (errors.Is(err, ErrInvalid)) without
// changing its message.
func Invalid(err error) error { return invalidError{err} }

type invalidError struct{ error }

func (e invalidError) Unwrap() []error { return []error{e.error, ErrInvalid} }
