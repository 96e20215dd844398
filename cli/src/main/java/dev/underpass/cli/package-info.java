/** The {@code underpass} command line: gateway, agent, token and demo subcommands. */
package dev.underpass.cli;
