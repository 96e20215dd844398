package dev.underpass.gateway.dns;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The private DNS server's one logger, and names from the network made fit for its lines. */
final class DnsLog {
    static final Logger log = LoggerFactory.getLogger("underpass.gateway.dns");

    private DnsLog() {}

    /** Names come from the network: keep control characters and the like out of log lines. */
    static String printable(String name) {
        StringBuilder b = new StringBuilder(Math.min(name.length(), 256));
        for (int i = 0; i < name.length() && i < 256; i++) {
            char c = name.charAt(i);
            b.append(c >= 0x21 && c < 0x7f ? c : '?');
        }
        return b.toString();
    }
}
