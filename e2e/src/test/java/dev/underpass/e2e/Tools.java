package dev.underpass.e2e;

import java.io.File;
import org.junit.jupiter.api.Assumptions;

/**
 * External programs the interop tests drive (curl, git, ssh, sshd). Missing ones skip the test
 * with the reason on a developer's machine and fail it under CI, which must install them.
 */
final class Tools {
    private Tools() {}

    static String require(String name, String... alternatives) {
        for (String dir : (System.getenv("PATH") + File.pathSeparator + "/usr/sbin:/sbin").split(File.pathSeparator)) {
            File f = new File(dir, name);
            if (f.canExecute()) {
                return f.getAbsolutePath();
            }
        }
        String reason = name + " is not installed (.ci/run installs it: apt-get install "
                + String.join(" ", alternatives) + ")";
        if (System.getenv("CI") != null) {
            throw new AssertionError(reason);
        }
        Assumptions.abort(reason);
        return null;
    }
}
