/** The connection audit: records of consumer connections written to the store's audit log off the event loops, and the periodic log of the chains' heads. */
package dev.underpass.gateway.audit;
