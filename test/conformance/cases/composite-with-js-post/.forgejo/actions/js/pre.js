console.log(`pre-${process.env.INPUT_TAG}`);
