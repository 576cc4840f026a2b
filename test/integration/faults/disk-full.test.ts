import { faultMatrix } from "./fault-harness.js";

faultMatrix("disk-full");
