/** The port a release's web process listens on in its container ($PORT, as on a Heroku dyno). */
export const CONTAINER_PORT = 5000;

/**
 * The host port the run commands slugforge prints publish a web process on (`docker run -p
 * 8080:5000 ...`, `slugforge run APP web --port 8080`). Not 5000: that is the server's own default
 * port, so a printed command run on the server's machine could not bind it.
 */
export const PREVIEW_PORT = 8080;

/** docker run's flag publishing the web process on the preview port. */
export const PUBLISH_FLAG = `-p ${PREVIEW_PORT}:${CONTAINER_PORT}`;
