package dev.underpass.protocol;

import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;

/**
 * The HTTP/2 settings of an agent link, the same on both sides, and the frame codec built with
 * them. docs/protocol.md explains each value.
 */
public final class LinkSettings {
    /**
     * Per-stream receive window. It is what bounds the memory one stalled reader can hold on the
     * other side, and it is large enough for full speed on a low-latency link.
     */
    public static final int STREAM_WINDOW_BYTES = 1024 * 1024;
    /**
     * Per-connection receive window: the largest HTTP/2 allows. Bytes a stalled stream has not
     * consumed also hold connection window, so a smaller value would let a few stalled readers
     * stop every stream of the link; the per-stream windows bound memory instead.
     */
    public static final int CONNECTION_WINDOW_BYTES = Integer.MAX_VALUE;
    /** The window every HTTP/2 connection starts with (RFC 9113 section 6.9.2). */
    public static final int DEFAULT_WINDOW_BYTES = 65_535;
    /** Largest DATA frame either side accepts; larger frames cost fewer headers. */
    public static final int MAX_FRAME_BYTES = 64 * 1024;
    /** Most concurrent streams one agent link carries. */
    public static final long MAX_CONCURRENT_STREAMS = 10_000;
    /** Largest header block accepted. */
    public static final long MAX_HEADER_LIST_BYTES = 16 * 1024;
    /**
     * RST_STREAM frames accepted and sent per {@link #RST_WINDOW_SECONDS}. Each mirrors a TCP reset
     * of a consumer or target, which is ordinary traffic on a busy link; Netty's default (200 per
     * 30 s, a defence against rapid-reset floods from anonymous clients) would drop the link.
     */
    public static final int MAX_RST_FRAMES_PER_WINDOW = 100_000;

    public static final int RST_WINDOW_SECONDS = 10;

    private LinkSettings() {}

    public static Http2Settings initial() {
        return Http2Settings.defaultSettings()
                .initialWindowSize(STREAM_WINDOW_BYTES)
                .maxFrameSize(MAX_FRAME_BYTES)
                .maxConcurrentStreams(MAX_CONCURRENT_STREAMS)
                .maxHeaderListSize(MAX_HEADER_LIST_BYTES);
    }

    /** The gateway's codec, taking at most {@code maxStreams} concurrent streams from the agent. */
    public static Http2FrameCodec serverCodec(long maxStreams) {
        return configure(
                Http2FrameCodecBuilder.forServer().initialSettings(initial().maxConcurrentStreams(maxStreams)));
    }

    /** The agent's codec: as the gateway's, and server push off. */
    public static Http2FrameCodec clientCodec() {
        return configure(
                Http2FrameCodecBuilder.forClient().initialSettings(initial().pushEnabled(false)));
    }

    private static Http2FrameCodec configure(Http2FrameCodecBuilder builder) {
        return builder.autoAckPingFrame(true)
                // A close means the link is over (heartbeat lost, bad input, shutdown): do not wait
                // up to 30 s for its streams as a graceful HTTP/2 shutdown would.
                .gracefulShutdownTimeoutMillis(0)
                .decoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_WINDOW, RST_WINDOW_SECONDS)
                .encoderEnforceMaxRstFramesPerWindow(MAX_RST_FRAMES_PER_WINDOW, RST_WINDOW_SECONDS)
                .build();
    }
}
