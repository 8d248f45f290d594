console.log(`post ${process.env.INPUT_TAG}`);
