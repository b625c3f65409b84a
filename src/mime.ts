import { webtrtRenderers } from './lab/mime';

/** The renderers of webtrt's reports, loaded as the extension's MIME extension. */
export default webtrtRenderers;
