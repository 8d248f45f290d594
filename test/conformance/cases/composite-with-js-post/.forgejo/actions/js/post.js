console.log(`post-${process.env.INPUT_TAG}-${process.env.STATE_k}`);
