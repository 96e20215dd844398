/** What the entrances and the agent link report about consumer connections (ConnectionEvents) and where a connection goes (EndpointRoute); no dependencies on the rest of the gateway. */
package dev.underpass.gateway.events;
