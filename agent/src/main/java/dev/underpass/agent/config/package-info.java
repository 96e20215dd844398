/** The agent's configuration, from file, flags and environment, with every problem named by its field. */
package dev.underpass.agent.config;
