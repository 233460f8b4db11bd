package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Completion scripts ask the binary itself for the words that may follow
// (Run answers completionFlag without running anything), so they never go
// stale as commands and flags change.
const bashCompletion = `# bash completion for node-switch: eval "$(node-switch completion bash)"
# or install as /usr/share/bash-completion/completions/node-switch
_node_switch() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	words=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
	COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "${words[@]}" --generate-bash-completion 2>/dev/null)" -- "$cur"))
}
complete -o default -F _node_switch node-switch
`

const zshCompletion = `#compdef node-switch
# zsh completion for node-switch: eval "$(node-switch completion zsh)"
# or install as _node-switch in a directory of $fpath
_node_switch() {
	local -a opts
	opts=("${(@f)$(${words[1]} ${words[2,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
	_describe 'values' opts
}
compdef _node_switch node-switch
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		ArgsUsage: "bash|zsh",
		Action: func(c *cli.Context) error {
			shell, err := oneArg(c, "shell (bash or zsh)")
			if err != nil {
				return err
			}
			switch shell {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			default:
				return usageError("completion %s: want bash or zsh", shell)
			}
			return nil
		},
	}
}
