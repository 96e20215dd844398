package dev.underpass.protocol;


/**
 * HTTP/2 flow-control settings both sides announce. The stream window bounds what one slow
 * reader can make the other side buffer; the connection window bounds one agent session.
 */
public final class LinkSettings {
    /** Per-stream receive window: enough for full speed on a low-latency link. */
    public static final int STREAM_WINDOW_BYTES = 1024 * 1024;
    /** Per-connection receive window, shared by all streams of a session. */
    public static final int CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;
    /** The window every HTTP/2 connection starts with (RFC 9113 section 6.9.2). */
    public static final int DEFAULT_WINDOW_BYTES = 65_535;
    /** Largest DATA frame either side sends; larger frames cost fewer headers. */
    public static final int MAX_FRAME_BYTES = 64 * 1024;
    /** Most concurrent streams one agent session carries. */
    public static final long MAX_CONCURRENT_STREAMS = 10_000;
    /** Largest header block accepted. */
    public static final long MAX_HEADER_LIST_BYTES = 16 * 1024;

    private LinkSettings() {
    }

    public static io.netty.handler.codec.http2.Http2Settings initial() {
        return io.netty.handler.codec.http2.Http2Settings.defaultSettings()
                .initialWindowSize(STREAM_WINDOW_BYTES)
                .maxFrameSize(MAX_FRAME_BYTES)
                .maxConcurrentStreams(MAX_CONCURRENT_STREAMS)
                .maxHeaderListSize(MAX_HEADER_LIST_BYTES);
    }
}
